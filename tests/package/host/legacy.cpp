// Older code of the host application, in the same target as its rtmsg routes: it still uses
// Asio's deprecated interfaces (io_service, io_context::work, member post).  rtmsg must not
// take them away: neither its package's usage requirements nor its headers define
// ASIO_NO_DEPRECATED.  rtmsg's header comes first on purpose.
#include <rtmsg/server/server.hpp>

#include <asio/io_service.hpp>

#include <memory>

namespace host {

/// Runs one handler the old way; true when it ran.
bool legacy_asio_still_works()
{
    asio::io_service ios;
    bool ran = false;
    auto work = std::make_unique<asio::io_service::work>(ios);
    ios.post([&] {
        ran = true;
        work.reset();
    });
    ios.run();
    return ran;
}

} // namespace host
