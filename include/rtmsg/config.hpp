#pragma once
// Configuration shared by every rtmsg header.
#include <cassert>

// rtmsg uses only Asio's current interfaces, so it compiles with and without
// ASIO_NO_DEPRECATED; that choice is the host's, and nothing here makes it.
#if !defined(ASIO_STANDALONE)
#define ASIO_STANDALONE 1
#endif

/// Checks a precondition the *caller* is responsible for (two reads at once on one stream,
/// a send after destruction).  Peer input never reaches an RTMSG_ASSERT: it gets a close
/// code or an HTTP status instead.
#if !defined(RTMSG_ASSERT)
#define RTMSG_ASSERT(expr) assert(expr)
#endif

/** Separate compilation.  By default rtmsg is header-only: every translation unit that
    includes the server compiles it.  Define RTMSG_SEPARATE_COMPILATION in every translation
    unit (target_compile_definitions) and include <rtmsg/src.hpp> in exactly one source file:
    the server, its connections, the hub and its endpoints are then compiled there once, and
    the headers other units include declare them only (see README "Compile time").
    RTMSG_DECL marks what is defined in an impl/ file: inline in header-only builds, an
    ordinary function compiled once by src.hpp otherwise. */
#if defined(RTMSG_SEPARATE_COMPILATION)
#define RTMSG_DECL
#else
#define RTMSG_DECL inline
#endif
