# One way to declare a target, so every folder's CMakeLists.txt reads the same.
#
#   fsd_add_library(NAME fsd_common SRCS a.cc b.cc DEPS torch [TORCH])
#   fsd_add_executable(NAME fsd-train SRCS main.cc DEPS fsd_client [TORCH])
#   fsd_add_test(NAME foo_test SRCS foo_test.cc DEPS fsd_common LABELS unit [TORCH])
#
# TORCH links LibTorch and reuses the shared precompiled <torch/torch.h>.

# Creates target NAME of KIND (library | executable) with the options above.
function(_fsd_add_target kind)
  cmake_parse_arguments(ARG "TORCH" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(kind STREQUAL "library")
    add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  else()
    add_executable(${ARG_NAME} ${ARG_SRCS})
  endif()
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  if(ARG_DEPS)
    target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
  endif()
  fsd_apply_warnings(${ARG_NAME})
  if(FSD_UNITY_BUILD)
    set_target_properties(${ARG_NAME} PROPERTIES UNITY_BUILD ON)
  endif()
  if(ARG_TORCH)
    target_link_libraries(${ARG_NAME} PUBLIC torch)
    target_precompile_headers(${ARG_NAME} REUSE_FROM fsd_torch_pch)
  endif()
endfunction()

function(fsd_add_library)
  _fsd_add_target(library ${ARGN})
endfunction()

function(fsd_add_executable)
  _fsd_add_target(executable ${ARGN})
endfunction()

function(fsd_add_test)
  cmake_parse_arguments(ARG "TORCH" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  _fsd_add_target(executable ${ARGN} DEPS GTest::gtest GTest::gtest_main)
  # Test files repeat helper names in their anonymous namespaces: one per unit.
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests
                                               UNITY_BUILD OFF)
  if(CMAKE_CROSSCOMPILING)
    # Under qemu every process start loads LibTorch for seconds: one ctest
    # test per binary (all its cases in one process) instead of one per case.
    add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}")
  else()
    gtest_discover_tests(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
