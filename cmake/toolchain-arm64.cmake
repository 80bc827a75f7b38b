# Cross-compiles fsd for arm64 (aarch64) Debian 12 with crossbuild-essential-arm64
# against an arm64 sysroot that holds fsd's -dev packages (scripts/cross-build-arm64
# makes one from the arm64 packages):
#
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake \
#         -DFSD_SYSROOT=/absolute/path/to/sysroot -DFSD_CLIENT_ONLY=ON
#
# Headers, libraries, CMake packages and pkg-config files all come from the
# sysroot, never from the host; ctest runs the arm64 test binaries through
# qemu-aarch64 with the sysroot's loader (one ctest test per binary there,
# cmake/FsdTargets.cmake).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# try_compile projects read this file again: hand them FSD_SYSROOT too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FSD_SYSROOT)
if(NOT FSD_SYSROOT OR NOT IS_DIRECTORY "${FSD_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "FSD_SYSROOT must name an arm64 Debian 12 sysroot (an absolute path "
                      "holding usr/lib/aarch64-linux-gnu); got '${FSD_SYSROOT}'. "
                      "scripts/cross-build-arm64 makes one.")
endif()
set(CMAKE_SYSROOT "${FSD_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${FSD_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FSD_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${FSD_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${FSD_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

find_program(FSD_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${FSD_QEMU_AARCH64};-L;${FSD_SYSROOT}")
