#pragma once
// Boost.Beast interoperability: an rtmsg::http::request from a request Beast parsed, for
// http::server::serve(stream, request, already_read).  Include it only in a program that uses
// Beast (Boost 1.74 or later); rtmsg itself never includes Boost.
#include <rtmsg/http/request.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <type_traits>

namespace rtmsg::http {

/** The rtmsg request for a Beast request head: method (as Beast spells it), target, version
    (both libraries write HTTP/1.1 as 11) and every field line in order, without the body.

    Nothing is checked here: http::server::serve checks the head as rtmsg's own parser would
    (check_head), and an upgrade against RFC 6455, and answers what it refuses.

    @par Example
    @code
    boost::beast::http::request_parser<boost::beast::http::empty_body> p;
    // ... boost::beast::http::async_read_header(socket, buffer, p, ...) ...
    server.serve(std::move(stream), rtmsg::http::from_beast(p.get()), already_read);
    @endcode */
template <class Fields>
request from_beast(boost::beast::http::header<true, Fields> const& head)
{
    request req;
    auto const method = head.method_string();
    req.method.assign(method.data(), method.size());
    auto const target = head.target();
    req.target.assign(target.data(), target.size());
    req.version = head.version();
    for (auto const& f : head) {
        auto const name = f.name_string();
        auto const value = f.value();
        req.headers.add(std::string(name.data(), name.size()), std::string(value.data(), value.size()));
    }
    return req;
}

/** The rtmsg request for a whole Beast request with a string body (a POST the host read and
    hands over to a plain rtmsg route); the body is copied. */
template <class Fields>
request from_beast(boost::beast::http::request<boost::beast::http::string_body, Fields> const& msg)
{
    auto req = from_beast(static_cast<boost::beast::http::header<true, Fields> const&>(msg));
    req.body = msg.body();
    return req;
}

} // namespace rtmsg::http
