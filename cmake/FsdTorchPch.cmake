# One precompiled <torch/torch.h>, built once and reused by every target that
# includes LibTorch (REUSE_FROM requires identical flags, which FsdTargets ensures).
add_library(fsd_torch_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cc)
target_link_libraries(fsd_torch_pch PUBLIC torch)
target_precompile_headers(fsd_torch_pch PRIVATE <torch/torch.h>)
fsd_apply_warnings(fsd_torch_pch)
