import Enrollment
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers bytes the HTTP parser cannot read as a request (a negative, doubled or overflowing
/// Content-Length, both Transfer-Encoding and Content-Length, a garbage request line, a header
/// block past the parser's limits, a broken chunk) with the API's JSON error, 400
/// `malformed_request`, where the HTTP library would send an empty 400, and exactly one answer
/// per request. The connection is closed afterwards: after a framing error nothing further on
/// it can be trusted to start where a request starts. A CONNECT, which ``RequestFraming``
/// refuses too, is answered 501 and closed the same way (without the JSON: swift-nio writes no
/// body on an answer to CONNECT).
///
/// It sits in the channel pipeline after the HTTP codec (Hummingbird's
/// `additionalChannelHandlers`), where it sees requests come in and answers go out:
/// - between requests, it answers at once;
/// - behind pipelined requests still being answered, it waits until their answers are out,
///   then answers (never ahead of them);
/// - in the middle of a request whose route is still reading the body, the error goes on to
///   the route, whose body read fails with it and answers `malformed_request`; the connection
///   is closed once that answer is out;
/// - in the middle of a request already answered (a route that refused before reading the
///   body, say 401), the connection is closed: a second answer to one request would be taken
///   by the client for the answer to its next one.
///
/// It also runs pipelined requests one at a time: a request that comes behind one not answered
/// yet is held back (and the connection not read further) until that answer is out. If that
/// answer ends the connection (`Connection: close`: a 413 or 401 sent before the body, a
/// request that asked for it, a malformed request), what is held back and whatever follows is
/// dropped, never run: the server loop would otherwise run the next request (remove an
/// authenticator, use up a code) and then find no connection to answer it on.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let logger: Logger
    /// A request's head was passed on and its end not yet.
    private var requestOpen = false
    /// The request passed on last said `Connection: close`.
    private var requestCloses = false
    /// Parts of requests pipelined behind one not answered yet, in order, passed on once it is.
    private var held: [NIOAny] = []
    /// A read was asked for while requests were held back: done once they are passed on.
    private var readPending = false
    /// The client's input ended (a half-close) while requests were held back: passed on behind them.
    private var inputClosedHeld = false
    /// Ends a connection half-closed after its last answer (``endConnection(after:promise:context:)``).
    private var graceTimer: Scheduled<Void>?
    /// The connection ends after the answer being written: nothing read from now on is run
    /// (the rest of the request being answered still goes to its route).
    private var discarding = false
    /// Requests passed on whose response has not ended yet (pipelined requests queue up).
    private var unanswered = 0
    /// A response's head was written and its end not yet.
    private var responseOpen = false
    /// A parser error (or a head ``RequestFraming`` refused) behind requests still being
    /// answered: answered once they are.
    private var deferred: (any Error)?
    /// A parser error went to a route reading its body: close once its answer is out.
    private var closeWhenAnswered = false
    /// The response being written says `Connection: close` (a 413 for a body declared too
    /// large, whose bytes the server will not read): once it is out, the server stops writing.
    private var responseCloses = false
    /// The response being written is a 499 or 408, an answer for the log only
    /// (``APIError/clientClosed``, ``APIError/closedByServer``): it is dropped, and the
    /// connection closed, rather than sent to a client that stopped sending halfway (one that
    /// only half-closed could still read it).
    private var droppingResponse = false
    /// Something further down the pipeline closed the connection: Hummingbird's idle timeout
    /// (`--idle-timeout`) or its shutdown. A request cut short then was cut by the server.
    private var closedByServer = false
    /// The server is stopping (Hummingbird's quiesce event): an answer that ends the connection
    /// gives the client a moment to read it, not `--idle-timeout`, which would hold the stop up.
    private var stopping = false

    /// The server's own close, which the client's end of a request cut short must not be
    /// blamed for.
    struct ConnectionClosedByServer: Error {}

    /// The server began to stop (SIGTERM, SIGINT) while a route waited for the rest of its
    /// request's body: the route answers 503 at once (``APIError/serverStopping``), rather than
    /// the client holding the stop up for `--idle-timeout` and getting no answer.
    struct ServerStopping: Error {}

    /// How long the rest of a body no one reads may take, once its answer is out (`--idle-timeout`).
    private let idleTimeout: Duration

    init(logger: Logger, idleTimeout: Duration = ServerConfiguration.defaultIdleTimeout) {
        self.logger = logger
        self.idleTimeout = idleTimeout
    }

    private var everythingAnswered: Bool { unanswered == 0 && !responseOpen }

    /// `metadata` with the client's address, as the access log's lines have it: the requests
    /// most likely hostile (smuggling tries, slow clients) are those logged here.
    private static func client(_ context: ChannelHandlerContext, _ metadata: Logger.Metadata) -> Logger.Metadata {
        guard let address = context.channel.remoteAddress?.ipAddress else { return metadata }
        return metadata.merging(["client": "\(address)"]) { first, _ in first }
    }

    /// A request or an answer whose `Connection` header says the connection ends after it: the
    /// option `close` among its comma-separated options (RFC 9110 §7.6.1), in any field of that
    /// name, not any option that holds the word (`x-closer`).
    static func saysClose(_ fields: HTTPFields) -> Bool {
        fields[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if discarding {
            if requestOpen { pass(data, context: context) }
            return
        }
        if case .head = unwrapInboundIn(data), !everythingAnswered { held.append(data); return }
        if !held.isEmpty { held.append(data); return }
        pass(data, context: context)
    }

    private func pass(_ data: NIOAny, context: ChannelHandlerContext) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestOpen = true
            unanswered += 1
            requestCloses = Self.saysClose(head.headerFields)
        case .end: requestOpen = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        // Requests held back: the socket is not read until they are passed on (or dropped).
        if !held.isEmpty && !discarding {
            readPending = true
            return
        }
        context.read()
    }

    /// Passes on the requests held back, now that every answer is out, until one of them again
    /// has to wait for its answer.
    private func release(context: ChannelHandlerContext) {
        // While the server stops, the answer just written is the connection's last (Hummingbird
        // closes it next): a request held behind it would be run with no connection to answer on.
        if stopping {
            discard(context: context)
            return
        }
        let parts = held
        held = []
        for (index, data) in parts.enumerated() {
            if case .head = unwrapInboundIn(data), !everythingAnswered {
                held = Array(parts[index...])
                break
            }
            pass(data, context: context)
        }
        // The server's async channel hands reads on at the end of a read.
        context.fireChannelReadComplete()
        if held.isEmpty {
            resumeReading(context: context)
            passInputClosed(context: context)
        }
    }

    /// The end of the client's input, held back behind requests (``userInboundEventTriggered``),
    /// goes on now that none is held any more.
    private func passInputClosed(context: ChannelHandlerContext) {
        guard inputClosedHeld else { return }
        inputClosedHeld = false
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    /// The connection ends after the answer being written: drops the requests held back, which
    /// are never run, and reads on (what comes is dropped), so that the client's close is seen.
    private func discard(context: ChannelHandlerContext) {
        discarding = true
        held = []
        resumeReading(context: context)
        passInputClosed(context: context)
    }

    private func resumeReading(context: ChannelHandlerContext) {
        guard readPending else { return }
        readPending = false
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var data = data
        if case .head(let head) = unwrapOutboundIn(data), APIError.logOnlyStatuses.contains(head.status.code) { droppingResponse = true }
        if droppingResponse {
            if case .end = unwrapOutboundIn(data) { context.close(promise: nil) }
            promise?.succeed()
            return
        }
        var ended = false
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational:
            responseOpen = true
            // Answered before its body came in (a 401, a 405: the route did not read it): that
            // body would be drained byte by byte for as long as the client trickles it, each
            // byte restarting the idle timeout. The answer says the connection closes, and it
            // does (below).
            if requestOpen && unanswered == 1 && head.headerFields[.connection] == nil {
                head.headerFields[.connection] = "close"
                data = wrapOutboundOut(.head(head))
            }
            responseCloses = Self.saysClose(head.headerFields)
            // The server loop closes the connection after answering a request that asked for it:
            // the answer says so.
            if requestCloses && !responseCloses {
                head.headerFields[.connection] = "close"
                data = wrapOutboundOut(.head(head))
            }
            if responseCloses || requestCloses { discard(context: context) }
        case .end:
            responseOpen = false
            unanswered = max(unanswered - 1, 0)
            ended = true
        case .head, .body: break
        }
        if ended, responseCloses, deferred == nil, !closeWhenAnswered {
            endConnection(after: data, promise: promise, context: context)
            return
        }
        if ended, everythingAnswered, !held.isEmpty, !discarding {
            // A malformed request behind the ones held back is answered after theirs.
            context.write(data, promise: promise)
            release(context: context)
            return
        }
        guard ended, everythingAnswered, deferred != nil || closeWhenAnswered else {
            context.write(data, promise: promise)
            return
        }
        if let error = deferred {
            context.write(data, promise: promise)
            deferred = nil
            answer(error, context: context)
        } else {
            // The route's own answer to the broken request is out: close after it.
            discard(context: context)
            endConnection(after: data, promise: promise, context: context)
        }
    }

    /// Writes `data`, the end of an answer after which the connection ends, then half-closes:
    /// the client reads the answer and the end of the stream at once, while whatever it still
    /// sends is read and dropped (``discard(context:)``). Closing outright with its bytes unread
    /// would make the kernel answer them with a reset, which can destroy the answer before the
    /// client has read it. Its own close, or the grace below, ends the connection.
    private func endConnection(after data: NIOAny, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.cascade(to: promise)
        context.writeAndFlush(data, promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(mode: .output, promise: nil) }
        // What the client still sends is read for --idle-timeout in all, not per byte (a
        // second while the server stops).
        let grace = stopping ? .seconds(1) : idleTimeout
        // Cancelled once the connection is closed (``channelInactive(context:)``): it would hold
        // the channel for the grace however soon the client closed.
        graceTimer?.cancel()
        graceTimer = context.eventLoop.scheduleTask(in: .nanoseconds(EnrollmentServer.nanoseconds(grace))) { channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        graceTimer?.cancel()
        graceTimer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client sent its last bytes (it half-closed, as `nc -N` and some pipelining clients
        // do) while requests are held back: the end of its input goes on behind them, once they
        // are passed on (``release(context:)``). Ahead of them, the server would take the
        // connection as done and drop them unanswered.
        if event as? ChannelEvent == .inputClosed, !held.isEmpty, !discarding {
            inputClosedHeld = true
            return
        }
        // Hummingbird closes idle connections and waits for the answers in progress: one whose
        // body has not all come would wait for the client. (An error, as the route's body read
        // takes it: the parts still coming are dropped with the connection.)
        if event is ChannelShouldQuiesceEvent {
            stopping = true
            // Requests held behind the one being answered are never run now (``release(context:)``).
            if !held.isEmpty { discard(context: context) }
            if requestOpen, !responseOpen, !everythingAnswered { context.fireErrorCaught(ServerStopping()) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all { closedByServer = true }
        context.close(mode: mode, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Bytes after the answer that ends the connection: nothing of them is run or answered.
        if discarding, !requestOpen, error is RequestFraming.Refusal || error is HTTPParserError { return }
        // Once the parser has failed, what comes is reported as data received in its error state.
        if discarding, error is ByteToMessageDecoderError { return }
        if error is RequestFraming.Refusal {
            // The head was not passed on: no request is open, and nothing more will come.
            if everythingAnswered { answer(error, context: context) } else { deferred = error }
            return
        }
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // Bytes after a request that asked to close the connection, which the parser refuses to
        // read: they are not a request of their own to answer, and the connection closes after
        // the answer to that one.
        if case .closedConnection = parserError { return }
        // The client closed the connection halfway through a request: nothing is answered to
        // a closed connection, and the log says it was the client's doing (status 499, as
        // nginx logs it), not a malformed request. A route reading the body learns it from
        // its read (``APIError/clientClosed``).
        // When the server closed it (the idle timeout), the log says so, as 408.
        if case .invalidEOFState = parserError, !(requestOpen && !everythingAnswered) {
            if !requestOpen {
                // A trace id, as every other line of the access log has: no answer carries it,
                // but it tells this line from its neighbours in a search.
                let traceId = RandomUUID.string()
                if closedByServer {
                    logger.info("closed a connection whose request was not complete: nothing came for --idle-timeout, it took longer than that in all, or the server is stopping", metadata: Self.client(context, ["status": "408", "trace_id": "\(traceId)"]))
                } else {
                    logger.info("client closed the connection in the middle of a request", metadata: Self.client(context, ["status": "499", "trace_id": "\(traceId)"]))
                }
            }
            context.close(promise: nil)
            return
        }
        if case .invalidEOFState = parserError, closedByServer {
            context.fireErrorCaught(ConnectionClosedByServer())
            return
        }
        if requestOpen {
            if everythingAnswered {
                logger.info("malformed request body after its answer; connection closed", metadata: Self.client(context, ["error": "\(parserError)", "status": "400"]))
                context.close(promise: nil)
            } else {
                closeWhenAnswered = true
                context.fireErrorCaught(error)
            }
            return
        }
        if everythingAnswered {
            answer(parserError, context: context)
        } else {
            deferred = parserError
        }
    }

    /// Writes the JSON 400 (501 for a CONNECT) and ends the connection once it is out. The error is not passed
    /// on: this answer replaces the library's empty one.
    private func answer(_ error: any Error, context: ChannelHandlerContext) {
        discard(context: context)
        let traceId = RandomUUID.string()
        let framing = error as? RequestFraming.Refusal
        let refusal = framing.map(Self.error(framing:)) ?? Self.error
        // Quoted as the access log quotes a user: the message may carry the client's bytes (a
        // Transfer-Encoding), which must not read as fields of the line or drive a terminal.
        logger.info(
            framing?.unsupportedMethod == true ? "method not implemented" : "malformed request",
            metadata: Self.client(context, ["trace_id": "\(traceId)", "error": "\(TextField.quoted(framing?.message ?? "\(error)"))", "status": "\(refusal.status.code)"]))
        let (encodedHeaders, body) = refusal.encoded(traceId: traceId)
        var headers = encodedHeaders
        headers[.connection] = "close"
        // An answer to CONNECT has no body (swift-nio writes none): the status is the answer.
        let withBody = framing?.unsupportedMethod != true
        if withBody { headers[.contentLength] = String(body.readableBytes) } else { headers[.contentType] = nil }
        // What the router's middleware adds to every other answer.
        headers[.xContentTypeOptions] = "nosniff"
        headers[AccessLogMiddleware.traceHeader] = traceId
        context.write(wrapOutboundOut(.head(HTTPResponse(status: refusal.status, headerFields: headers))), promise: nil)
        if withBody { context.write(wrapOutboundOut(.body(body)), promise: nil) }
        endConnection(after: wrapOutboundOut(.end(nil)), promise: nil, context: context)
    }

    static let error = APIError.badRequest(
        "malformed_request", "the request is not valid HTTP/1.1",
        "the request line, headers or body framing could not be parsed (for instance a Content-Length that is not one non-negative number, both Content-Length and Transfer-Encoding, a broken chunk, or headers too large); send a well-formed HTTP/1.1 request")

    /// A head ``RequestFraming`` refused: its problem is the message.
    static func error(framing refusal: RequestFraming.Refusal) -> APIError {
        if refusal.unsupportedMethod {
            return APIError(
                .notImplemented, code: "method_not_implemented", message: refusal.message,
                description: "send requests to this server directly: the API lives under /api/users/v1/me/totp and the page at /myaccount")
        }
        return APIError.badRequest(
            "malformed_request", refusal.message,
            "HTTP/1.1 requests carry exactly one Host header, and a body framed by Content-Length or by Transfer-Encoding: chunked alone (RFC 9112); send a well-formed HTTP/1.1 request")
    }
}
