import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` (RFC 9110 §10.1.1) with an interim `100 Continue`, so that a
/// client that waits for it before sending its body (curl does for larger bodies) sends it at
/// once instead of after its own timeout (a second for curl). A body declared larger than the
/// server takes gets no 100: the route refuses it (413) without waiting for it.
///
/// Sits after the HTTP codec beside ``MalformedRequestHandler``. Requests may be pipelined: a
/// 100 owed to a request behind others still being answered waits until their answers are
/// out, so that it is never taken for part of an earlier request's answer.
final class ExpectContinue: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let maxBodyBytes: Int
    /// Requests passed on whose answer has not ended yet, in order: whether each is still owed
    /// a 100 (the first one's answer is the one being written, if any).
    private var waiting: [Bool] = []

    init(maxBodyBytes: Int) {
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data) {
            let declared = request.headerFields[.contentLength].flatMap(Int.init)
            let expects = request.headerFields[.expect]?.lowercased() == "100-continue"
                && (declared.map { $0 > 0 && $0 <= maxBodyBytes } ?? (request.headerFields[.transferEncoding] != nil))
            waiting.append(expects)
            if expects && waiting.count == 1 { sendContinue(context: context) }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response) where response.status.kind != .informational:
            // Answered before its body came: no 100 is owed any more.
            if !waiting.isEmpty { waiting[0] = false }
        case .end:
            if !waiting.isEmpty { waiting.removeFirst() }
            context.write(data, promise: promise)
            if waiting.first == true { sendContinue(context: context) }
            return
        case .head, .body: break
        }
        context.write(data, promise: promise)
    }

    private func sendContinue(context: ChannelHandlerContext) {
        waiting[0] = false
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
    }
}
