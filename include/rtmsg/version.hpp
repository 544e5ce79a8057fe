#pragma once
// The version lives in one place, CMake's project(VERSION); keep these in step with it
// (a test checks that they match).
#define RTMSG_VERSION_MAJOR 0
#define RTMSG_VERSION_MINOR 1
#define RTMSG_VERSION_PATCH 0
#define RTMSG_VERSION (RTMSG_VERSION_MAJOR * 10000 + RTMSG_VERSION_MINOR * 100 + RTMSG_VERSION_PATCH)

namespace rtmsg {
/// The library version as "major.minor.patch".
inline constexpr char const version_string[] = "0.1.0";
} // namespace rtmsg
