// Compiles Asio's non-inline parts once for all of our test and example binaries
// (ASIO_SEPARATE_COMPILATION), as Beast's test/lib_asio.cpp does: every other TU stays lean.
#include <asio/impl/src.hpp>
#if defined(RTMSG_EXAMPLES_WITH_SSL)
#include <asio/ssl/impl/src.hpp>
#endif
