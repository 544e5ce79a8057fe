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
