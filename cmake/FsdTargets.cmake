# One way to declare a target, so every folder's CMakeLists.txt reads the same.
#
#   fsd_add_library(NAME fsd_common SRCS a.cc b.cc DEPS torch [TORCH])
#   fsd_add_executable(NAME fsd-train SRCS main.cc DEPS fsd_client [TORCH])
#   fsd_add_test(NAME foo_test SRCS foo_test.cc DEPS fsd_common LABELS unit [TORCH])
#
# TORCH links LibTorch and reuses the shared precompiled <torch/torch.h>.

# The layers of fsd's libraries (docs/DESIGN.md): a library may link only
# libraries of a lower layer, so dependencies point one way —
# common ← aggregation / privacy / transport / edge / monitor ← client /
# coordinator ← sim. A library not listed here is refused until it is placed.
# (fsd_wire is common's LibTorch-free part, below the rest of it.)
set(FSD_LAYER_fsd_wire 0)
set(FSD_LAYER_fsd_common 1)
set(FSD_LAYER_fsd_aggregation 2)
set(FSD_LAYER_fsd_dp 2)
set(FSD_LAYER_fsd_secagg 2)
set(FSD_LAYER_fsd_transport 2)
set(FSD_LAYER_fsd_edge 2)
set(FSD_LAYER_fsd_monitor 2)
set(FSD_LAYER_fsd_client 3)
set(FSD_LAYER_fsd_coordinator 3)
set(FSD_LAYER_fsd_sim 4)

function(_fsd_check_layers name deps)
  if(NOT DEFINED FSD_LAYER_${name})
    message(FATAL_ERROR "${name}: not in a layer (cmake/FsdTargets.cmake)")
  endif()
  foreach(dep IN LISTS deps)
    if(dep MATCHES "^fsd_" AND NOT FSD_LAYER_${dep} LESS FSD_LAYER_${name})
      message(FATAL_ERROR "${name} (layer ${FSD_LAYER_${name}}) may not link ${dep} "
                          "(layer ${FSD_LAYER_${dep}}): dependencies point down the layers")
    endif()
  endforeach()
endfunction()

# Creates target NAME of KIND (library | executable) with the options above.
function(_fsd_add_target kind)
  cmake_parse_arguments(ARG "TORCH" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  if(kind STREQUAL "library")
    _fsd_check_layers(${ARG_NAME} "${ARG_DEPS}")
  endif()
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
