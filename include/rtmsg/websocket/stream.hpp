#pragma once
// rtmsg::websocket::stream: RFC 6455 over any Asio stream.
#include <rtmsg/config.hpp>
#include <rtmsg/error.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/transport/batch.hpp>
#include <rtmsg/transport/send_status.hpp>
#include <rtmsg/transport/stream.hpp>
#include <rtmsg/transport/teardown.hpp>
#include <rtmsg/transport/write_queue.hpp>
#include <rtmsg/websocket/error.hpp>
#include <rtmsg/websocket/frame.hpp>
#include <rtmsg/websocket/handshake.hpp>
#include <rtmsg/websocket/option.hpp>
#include <rtmsg/websocket/permessage_deflate.hpp>

#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg::websocket {

namespace detail {
template <class NextLayer>
class stream_impl;
}

/// What send() did with a message (rtmsg::send_status, shared with the SSE stream).
using rtmsg::send_status;

/** A WebSocket connection over the stream `NextLayer` (RFC 6455), server or client role.

    One template serves `asio::ip::tcp::socket`, `asio::ssl::stream<asio::ip::tcp::socket>`
    (include <rtmsg/transport/ssl.hpp>) and `rtmsg::test::stream`.

    The stream enforces every framing rule of RFC 6455 as it reads (see message_reader),
    answers pings with pongs, echoes close frames, fails the connection with the right close
    code (1002 protocol error, 1007 bad UTF-8, 1009 too big), sends keepalive pings and drops
    peers that go silent (options::ping_interval, options::idle_timeout), and bounds the
    closing handshake (options::close_timeout).

    @par Writes
    Every outgoing frame goes through one queue owned by the stream.  Frames queued while a
    write is in flight are gathered into the next single write.  async_write() completes when
    its frame has been written; send() copies the message and returns at once.

    @par Memory
    On a plain TCP socket an idle connection holds no read buffer: the stream waits for
    readability, then reads into a buffer owned by the I/O thread, and keeps only the bytes
    that the current call cannot use.

    @par Thread safety
    Distinct objects: Safe.  Shared objects: Unsafe, except send(), which may be called from
    any thread: it hands the message to the stream's executor with asio::dispatch.  If the
    io_context runs on several threads, construct the stream with a strand executor
    (asio::make_strand) so that its handlers never run concurrently.  At most one
    async_read may be pending at a time; any number of writes may be.

    @tparam NextLayer an rtmsg::async_stream that owns the connection.
*/
template <async_stream NextLayer>
class stream {
public:
    /// The stream underneath (a TCP socket, a TLS stream, a test stream).
    using next_layer_type = NextLayer;
    /// The executor of the next layer.
    using executor_type = typename NextLayer::executor_type;

    /// Constructs the next layer from `args` (a socket, or an ssl::stream's socket and context).
    template <class... Args>
    explicit stream(Args&&... args);

    /// Moves the stream; the moved-from object must not be used again.
    stream(stream&&) noexcept = default;
    /// Moves the stream; the moved-from object must not be used again.
    stream& operator=(stream&&) noexcept = default;
    /// Closes the connection at once if it is still open; pending operations complete with
    /// operation_aborted.
    ~stream();

    /// The executor of the next layer: completions run there.
    executor_type get_executor() const noexcept;
    /// The stream underneath.
    next_layer_type& next_layer() noexcept;
    /// The stream underneath.
    next_layer_type const& next_layer() const noexcept;

    /// Changes the settings; call before the handshake.
    void set_options(options const& opt);
    /// The same, sharing `opt` with other streams instead of copying it (null: the defaults).
    void set_options(std::shared_ptr<options const> opt);
    /// The current settings.
    options const& get_options() const noexcept;

    /// Client or server: the server expects masked frames and sends unmasked ones.
    void set_role(role_type role) noexcept;
    /// Client or server.
    role_type role() const noexcept;

    /// True from construction until the connection is closed or failed.
    bool is_open() const noexcept;

    /// Bytes the peer sent after its handshake that the HTTP layer already read; they are
    /// consumed before anything is read from the socket.
    void set_initial_bytes(std::string_view bytes);

    /** Answers an upgrade request that the HTTP layer has read.

        Checks `req` (RFC 6455 §4.2.1).  If it is acceptable, queues the 101 response with
        `subprotocol` (empty: none), starts the keepalive timer and completes; the 101 is
        written after the completion handler returns, together with whatever the handler
        sends, so that what the handler sets up (a subscription, say) is in place before the
        client sees the connection open.  A failure to write it is reported by the next
        async_read.  If the request is not acceptable, writes the error response (400, 405,
        or 426 with Sec-WebSocket-Version: 13) and completes with the error
        (condition::handshake_failed) once it is written.  With options::deflate.enable and zlib
        (rtmsg::deflate), the first acceptable permessage-deflate offer is accepted
        (negotiate_deflate) and messages of at least deflate.threshold bytes go out compressed.

        @par Completion signature  `void(std::error_code ec)`
    */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_accept(http::request const& req, std::string_view subprotocol = {},
                      CompletionToken&& token = CompletionToken{});

    /** (Client role) Performs the opening handshake (RFC 6455 §4.1) over the connected
        next layer, and switches the stream to the client role: outgoing frames are masked
        with keys from the OS CSPRNG, masked frames from the server fail the connection.

        Sends the upgrade request for `req.target` on `req.host` with a fresh random
        Sec-WebSocket-Key, the offered subprotocols and the extra header fields; reads the
        response into `res` and checks it: status 101 (else error::bad_status, with `res`
        holding the server's answer, 401 for example), `Upgrade: websocket`,
        `Connection: upgrade`, the Sec-WebSocket-Accept derived from the key
        (error::bad_accept), and a subprotocol among those offered (error::bad_subprotocol).
        With options::deflate.enable and zlib (rtmsg::deflate), permessage-deflate is offered
        (make_deflate_offer) and the server's answer checked (error::bad_extension).
        Errors compare equal to condition::handshake_failed.  The whole exchange is bounded
        by options::handshake_timeout (rtmsg::error::timeout).  On success the keepalive
        timers start, as after async_accept.  `req` and `res` must stay valid until completion.

        @par Completion signature  `void(std::error_code ec)`
    */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_handshake(client_handshake const& req, http::response_head& res,
                         CompletionToken&& token = CompletionToken{});

    /** Reads one complete message into `buffer` (a DynamicBuffer_v2, for example
        `asio::dynamic_buffer(str)`), appending to what it holds.

        Control frames that arrive meanwhile are handled: pings are answered, pongs noted,
        a close frame is echoed and the connection torn down, after which the read
        completes with error::closed (close_code() tells the peer's code).  A protocol
        violation sends the matching close code, tears the connection down, and completes
        with that error.

        @par Completion signature  `void(std::error_code ec, std::size_t bytes_read)`
        @par Cancellation  None: close the stream (or let a timer do it) to end a read.
    */
    template <class DynamicBuffer, asio::completion_token_for<void(std::error_code, std::size_t)> CompletionToken =
                                       asio::default_completion_token_t<executor_type>>
    auto async_read(DynamicBuffer& buffer, CompletionToken&& token = CompletionToken{});

    /** Hands out the messages that are already buffered (they arrived in the same read as
        the last one), synchronously and without I/O: for each, its payload is appended to
        `buffer` and `f(bytes_read)` is called at once; `f` consumes the payload (clears the
        buffer) and returns false to stop.  Returns how many messages were handed out.

        A server's read loop calls it after each async_read completion and before the next
        async_read, which then waits for new input only.  When the buffered input ends inside
        a message, the part already read is left in `buffer`: pass the same buffer, with that
        content, to the next async_read, which completes once the message is whole.  Pings met on the way are answered;
        a close frame or a protocol violation is left for the next async_read to report, as
        it would have.  Replies sent from `f` are coalesced into one write at the batch's
        end, as with async_read.  Call on the stream's executor, with no async_read pending,
        and do not start a read from `f`.

        With a `rtmsg::detail::message_view_buffer` (what the server's connections use), a
        message that lies whole in the buffered input is not copied: `f` reads it with
        `buffer.message()`, a view of the input that is good until `f` returns, and clears
        it with `buffer.clear()`.  What is left in `buffer` when read_buffered returns is
        owned by its string. */
    template <class DynamicBuffer, class F>
    std::size_t read_buffered(DynamicBuffer& buffer, F&& f);

    /// The type of the last message read.
    message_type got_type() const noexcept;
    /// True if the last message read was text.
    bool got_text() const noexcept { return got_type() == message_type::text; }

    /** Sends one message as a single frame.  The bytes are not copied: `payload` must stay
        valid until completion.

        @par Completion signature  `void(std::error_code ec, std::size_t bytes_written)`
        (bytes_written counts the payload).
    */
    template <asio::completion_token_for<void(std::error_code, std::size_t)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_write(message_type type, asio::const_buffer payload, CompletionToken&& token = CompletionToken{});

    /** Sends a ping (payload at most 125 bytes).
        @par Completion signature  `void(std::error_code ec)` */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_ping(std::string_view payload = {}, CompletionToken&& token = CompletionToken{});

    /** Starts the closing handshake: sends a close frame with `code` (0: no code) and
        `reason` (at most 123 bytes of UTF-8).  Completes once the frame is written; the
        pending or next async_read then completes with error::closed when the peer
        answers, or the connection is dropped after options::close_timeout.

        @par Completion signature  `void(std::error_code ec)` */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_close(std::uint16_t code = close_code::normal, std::string_view reason = {},
                     CompletionToken&& token = CompletionToken{});

    /** Queues a message without waiting; the payload is copied.  Safe from any thread.
        Several queued messages go out in one gathered write. */
    send_status send(message_type type, std::string_view payload);

    /** Queues a complete, already framed message (header + unmasked payload) without
        copying it: the bytes are shared, for example by every subscriber of a topic.  Safe
        from any thread.  Server role only (client frames need a mask per frame). */
    send_status send_frame(std::shared_ptr<std::string const> frame);

    /** Queues several such frames (moved from `frames`), in order, to leave in one gathered
        write: a subscriber's batch of fan-out messages.  At the hard limit the rest of the
        batch is dropped (send_status::dropped).  Safe from any thread; without a copy or
        a post when called on the stream's executor. */
    send_status send_frames(std::span<std::shared_ptr<std::string const>> frames);

    /// Calls `f()` on the stream's executor once nothing is queued or being written (at once,
    /// via post, if that is already so).  One pending callback at a time.
    template <class F>
    void on_idle(F&& f);

    /** Queues a close frame without waiting (safe from any thread); see async_close. */
    void close(std::uint16_t code = close_code::normal, std::string_view reason = {});

    /** Like close(), but lets a producer that waits in on_idle() hand over the rest of its
        own queue first: the close frame is queued once the idle callback runs without
        registering itself again.  Posted (never run inline), so work already posted to the
        executor comes first.  http::server::stop() closes this way.  Safe from any thread. */
    void close_after_idle(std::uint16_t code = close_code::going_away, std::string_view reason = {});

    /// Bytes queued for writing and not yet written.
    std::size_t queued_bytes() const noexcept;

    /** The permessage-deflate parameters agreed in the handshake; empty when the connection
        does not compress (not offered, not accepted, or no zlib in the program).  Set by
        the handshake, before the first read or write. */
    std::optional<deflate_params> compression() const noexcept;

    /** Bytes kept for later sends and reads: frame storage for reuse (at most four buffers
        of up to 64 KiB) and, while the stream holds it, its busy state (write queues and
        read-ahead; counted by its own size).  A keepalive tick that finds the connection
        quiet since the previous tick, nothing queued, nothing read ahead and no write in
        flight gives both back to the allocator, so an idle connection holds neither, and one
        that once sent large messages does not keep that memory.  (No keepalive, no ticks:
        see options::ping_interval.)  Safe from any thread. */
    std::size_t spare_storage() const noexcept;

    /** The read batch of the message just read, while more messages of the same read are
        buffered (batch()->more()) or while work deferred in it waits for the batch to end;
        null otherwise.  Call it from the read's completion handler (or the callback of
        read_buffered()), on the stream's executor; the pointer is good until that handler
        returns.  Work deferred there runs once the batch ends (see transport::read_batch):
        pass it to hub::publish so that subscribers are woken once per batch. */
    transport::read_batch* batch() noexcept;

    /// The code of the close frame the peer sent; close_code::abnormal if none arrived.
    std::uint16_t close_code() const noexcept;
    /// The reason of the peer's close frame.
    std::string_view close_reason() const noexcept;

    /// Calls `f()` on the stream's executor once the send queue is below half its soft
    /// limit (at once if it already is).  Used to pause reading while a peer is slow.
    template <class F>
    void on_drained(F&& f);

private:
    /// The options' soft and hard limits, for the write queue.
    transport::queue_limits limits() const noexcept;

    std::shared_ptr<detail::stream_impl<NextLayer>> impl_;
};

/// A WebSocket over plain TCP.
using tcp_stream = stream<asio::ip::tcp::socket>;

} // namespace rtmsg::websocket

#include <rtmsg/websocket/impl/stream.hpp>
#include <rtmsg/websocket/impl/handshake.hpp>
// rtmsg::deflate defines RTMSG_HAS_ZLIB: its streams get zlib without naming the header.
#if defined(RTMSG_HAS_ZLIB)
#include <rtmsg/websocket/deflate.hpp>
#endif
