#pragma once
// Configuration shared by every rtmsg header.
#include <cassert>

#if !defined(ASIO_NO_DEPRECATED)
#define ASIO_NO_DEPRECATED 1
#endif
#if !defined(ASIO_STANDALONE)
#define ASIO_STANDALONE 1
#endif

/// Checks a precondition the *caller* is responsible for (two reads at once on one stream,
/// a send after destruction).  Peer input never reaches an RTMSG_ASSERT: it gets a close
/// code or an HTTP status instead.
#if !defined(RTMSG_ASSERT)
#define RTMSG_ASSERT(expr) assert(expr)
#endif
