import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers bytes the HTTP parser cannot read as a request (a negative, doubled or overflowing
/// Content-Length, both Transfer-Encoding and Content-Length, a garbage request line, a header
/// block past the parser's limits) with the API's JSON error, 400 `malformed_request`, where the
/// HTTP library would send an empty 400. The connection is closed afterwards, as before: after
/// a framing error nothing further on it can be trusted to start where a request starts.
///
/// It sits in the channel pipeline after the HTTP codec (Hummingbird's
/// `additionalChannelHandlers`) and answers only when every request before has been answered,
/// which is where framing errors arise. An error in the middle of a request whose head the
/// application already has (a broken chunk in its body), behind pipelined requests still being
/// answered, or while a response is being written, goes on to Hummingbird as before (an empty
/// 400 after the answers it owes): the application owns those exchanges.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let logger: Logger
    /// A request's head was passed on and its end not yet.
    private var requestOpen = false
    /// Requests passed on whose response has not ended yet (pipelined requests queue up).
    private var unanswered = 0
    /// A response's head was written and its end not yet.
    private var responseOpen = false

    init(logger: Logger) {
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestOpen = true
            unanswered += 1
        case .end: requestOpen = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational: responseOpen = true
        case .end:
            responseOpen = false
            unanswered = max(unanswered - 1, 0)
        case .head, .body: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, !requestOpen, !responseOpen, unanswered == 0 else {
            context.fireErrorCaught(error)
            return
        }
        let traceId = UUID().uuidString.lowercased()
        logger.info("malformed request", metadata: ["trace_id": "\(traceId)", "error": "\(parserError)", "status": "400"])
        let (encodedHeaders, body) = Self.error.encoded(traceId: traceId)
        var headers = encodedHeaders
        headers[.connection] = "close"
        headers[.contentLength] = String(body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: Self.error.status, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        // Closed once the answer is out. The error is not passed on: this answer replaces the
        // library's empty one (which would also have closed the connection).
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    static let error = APIError.badRequest(
        "malformed_request", "the request is not valid HTTP/1.1",
        "the request line or headers could not be parsed (for instance a Content-Length that is not one non-negative number, both Content-Length and Transfer-Encoding, or headers too large); send a well-formed HTTP/1.1 request")
}
