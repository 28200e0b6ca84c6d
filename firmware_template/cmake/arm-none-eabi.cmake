# Toolchain file for arm-none-eabi-gcc (Arm GNU toolchain or Debian's gcc-arm-none-eabi).
# The CPU flags are not set here: they come from the board (see CMakeLists.txt).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(MCD_TOOLCHAIN_PREFIX "arm-none-eabi-" CACHE STRING "Prefix of the cross tools")
find_program(CMAKE_C_COMPILER ${MCD_TOOLCHAIN_PREFIX}gcc REQUIRED)
find_program(CMAKE_ASM_COMPILER ${MCD_TOOLCHAIN_PREFIX}gcc REQUIRED)
find_program(CMAKE_OBJCOPY ${MCD_TOOLCHAIN_PREFIX}objcopy REQUIRED)
find_program(CMAKE_SIZE ${MCD_TOOLCHAIN_PREFIX}size REQUIRED)

# Compiler checks cannot link a bare-metal executable without a linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
