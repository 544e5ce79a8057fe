#pragma once
// The rtmsg half of existing-server, behind an interface without Asio: Boost.Asio 1.74 and
// standalone Asio 1.22 cannot be included in one translation unit (both define the global
// names asio_execution_*_fn), so Beast lives in main.cpp and rtmsg in rtmsg_side.cpp.
// Linked into one program, the two still share a few of those names (for example
// asio_execution_start_fn::static_instance<impl>::instance, an empty function object merged by
// the linker): formally an ODR violation, harmless with g++ 12 and clang 14 since every call
// through them is inlined from the translation unit's own definition.
#include <rtmsg/http/request.hpp>
#include <rtmsg/transport/foreign_io.hpp>

#include <cstddef>
#include <memory>
#include <string_view>

class rtmsg_side {
public:
    /// rtmsg's server on an io_context of its own run by `threads` threads: /echo, /broadcast,
    /// /sse and /ws (testbed contract), messages up to `max_message` bytes.
    rtmsg_side(unsigned threads, std::size_t max_message);
    ~rtmsg_side();

    /// A plain TCP connection: its descriptor, the request Beast read and the bytes after it.
    void serve_fd(int fd, bool v6, rtmsg::http::request req, std::string_view already_read);
    /// A connection that stays in Boost.Asio (TLS), read and written through `io`.
    void serve_foreign(std::shared_ptr<rtmsg::foreign_io> io, rtmsg::http::request req, std::string_view already_read);
    /// Publishes `text` to the topic "broadcast"; false if the hub refused it.
    bool publish(std::string_view text);
    /// rtmsg's open connections.
    std::size_t connections() const;
    /// Stops gracefully (1001 to WebSockets, SSE streams end) and returns once all are gone.
    void stop_and_wait();

private:
    struct impl;
    std::unique_ptr<impl> p_;
};
