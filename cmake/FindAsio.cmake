# FindAsio.cmake -- locate standalone Asio (header-only).
#
# Debian's libasio-dev ships no CMake package configuration, so rtmsg brings this module and
# installs it next to rtmsgConfig.cmake.  Package managers that do ship one -- vcpkg's and Conan's
# asio packages both define asio::asio -- are used first, and Asio::Asio then wraps their target.
#
# Input (optional): Asio_INCLUDE_DIR, the directory holding asio/version.hpp.
# Result: the imported target Asio::Asio, with ASIO_STANDALONE defined and Threads::Threads linked
# (never ASIO_NO_DEPRECATED: whether the deprecated interfaces exist is the host's choice);
# Asio_FOUND, Asio_VERSION, Asio_INCLUDE_DIR.
include(FindPackageHandleStandardArgs)

if(NOT TARGET asio::asio)
  # No version here: vcpkg's asio config has no version file.  The version comes from the header.
  find_package(asio CONFIG QUIET)
endif()

# vcpkg's config sets ASIO_INCLUDE_DIR, Conan's CMakeDeps asio_INCLUDE_DIRS.
find_path(Asio_INCLUDE_DIR NAMES asio/version.hpp HINTS ${ASIO_INCLUDE_DIR} ${asio_INCLUDE_DIRS})

unset(Asio_VERSION)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" _asio_v "${_asio_version_line}")
  # ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch
  math(EXPR _asio_major "${_asio_v} / 100000")
  math(EXPR _asio_minor "${_asio_v} / 100 % 1000")
  math(EXPR _asio_patch "${_asio_v} % 100")
  set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
  unset(_asio_version_line)
  unset(_asio_v)
  unset(_asio_major)
  unset(_asio_minor)
  unset(_asio_patch)
endif()

find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION)

if(Asio_FOUND AND NOT TARGET Asio::Asio)
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads REQUIRED)
  add_library(Asio::Asio INTERFACE IMPORTED)
  if(TARGET asio::asio)
    target_link_libraries(Asio::Asio INTERFACE asio::asio)
  else()
    target_include_directories(Asio::Asio INTERFACE "${Asio_INCLUDE_DIR}")
  endif()
  target_compile_definitions(Asio::Asio INTERFACE ASIO_STANDALONE)
  target_link_libraries(Asio::Asio INTERFACE Threads::Threads)
endif()

mark_as_advanced(Asio_INCLUDE_DIR)
