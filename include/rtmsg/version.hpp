#pragma once
// Generated from project(VERSION) in CMakeLists.txt (the one place the version lives) by
// cmake/version.hpp.in.  Configuring rtmsg fails while this file disagrees with project(VERSION);
// the error prints the command that refreshes it.  Edit the template, not this file.
#define RTMSG_VERSION_MAJOR 0
#define RTMSG_VERSION_MINOR 1
#define RTMSG_VERSION_PATCH 0
#define RTMSG_VERSION (RTMSG_VERSION_MAJOR * 10000 + RTMSG_VERSION_MINOR * 100 + RTMSG_VERSION_PATCH)

namespace rtmsg {
/// The library version as "major.minor.patch".
inline constexpr char const version_string[] = "0.1.0";
} // namespace rtmsg
