# Warnings for fsd's own targets only. Third-party headers come in through
# imported targets, which CMake marks SYSTEM, so -Werror stays meaningful.
function(fsd_apply_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(FSD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
