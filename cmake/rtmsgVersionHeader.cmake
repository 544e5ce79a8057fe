# rtmsgVersionHeader.cmake -- keeps include/rtmsg/version.hpp in step with project(VERSION).
#
# The version lives in one place, project(VERSION) in CMakeLists.txt.  include/rtmsg/version.hpp is
# that version rendered through cmake/version.hpp.in; it is checked in so that the headers work
# without CMake too (copied include/ tree, Conan and vcpkg installs, the header self-check).
#
#   include(rtmsgVersionHeader)              after project(): configure fails if the header is stale
#   cmake -P cmake/rtmsgVersionHeader.cmake  rewrites the header from CMakeLists.txt's project(VERSION)
get_filename_component(_rtmsg_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(_rtmsg_version_template "${_rtmsg_root}/cmake/version.hpp.in")
set(_rtmsg_version_header "${_rtmsg_root}/include/rtmsg/version.hpp")

if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${_rtmsg_root}/CMakeLists.txt" _rtmsg_lists)
  if(NOT _rtmsg_lists MATCHES "project\\(rtmsg[ \t\r\n]+VERSION[ \t\r\n]+([0-9]+)\\.([0-9]+)\\.([0-9]+)")
    message(FATAL_ERROR "no project(rtmsg VERSION x.y.z) in ${_rtmsg_root}/CMakeLists.txt")
  endif()
  set(PROJECT_VERSION_MAJOR ${CMAKE_MATCH_1})
  set(PROJECT_VERSION_MINOR ${CMAKE_MATCH_2})
  set(PROJECT_VERSION_PATCH ${CMAKE_MATCH_3})
  set(PROJECT_VERSION ${CMAKE_MATCH_1}.${CMAKE_MATCH_2}.${CMAKE_MATCH_3})
  configure_file("${_rtmsg_version_template}" "${_rtmsg_version_header}" @ONLY)
  message(STATUS "include/rtmsg/version.hpp: ${PROJECT_VERSION}")
  return()
endif()

if(NOT PROJECT_VERSION_PATCH MATCHES "^[0-9]+$")
  message(FATAL_ERROR "project(rtmsg VERSION) must be major.minor.patch, not '${PROJECT_VERSION}'")
endif()
configure_file("${_rtmsg_version_template}" "${PROJECT_BINARY_DIR}/rtmsg-version.hpp" @ONLY)
file(READ "${PROJECT_BINARY_DIR}/rtmsg-version.hpp" _rtmsg_expected)
file(READ "${_rtmsg_version_header}" _rtmsg_actual)
string(REPLACE "\r" "" _rtmsg_actual "${_rtmsg_actual}") # a CRLF checkout is still in step
if(NOT _rtmsg_expected STREQUAL _rtmsg_actual)
  message(FATAL_ERROR "include/rtmsg/version.hpp does not match project(VERSION ${PROJECT_VERSION}) "
                      "and cmake/version.hpp.in.  Regenerate it and commit the result:\n"
                      "  cmake -P ${CMAKE_CURRENT_LIST_DIR}/rtmsgVersionHeader.cmake")
endif()
unset(_rtmsg_expected)
unset(_rtmsg_actual)
