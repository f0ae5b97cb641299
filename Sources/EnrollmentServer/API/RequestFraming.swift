import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Refuses request heads whose framing RFC 9112 says a server must not trust, which the HTTP
/// parser lets through: an HTTP/1.1 request without a `Host` header or with more than one
/// (§3.2), `Transfer-Encoding` in an HTTP/1.0 request (§6.1), and any transfer coding but
/// `chunked` alone (`gzip, chunked` would have its gzip ignored, `identity` is no coding any
/// more). Each is a place where a proxy in front and this server could see different requests.
///
/// It sits before the codec that drops the HTTP version (put there by ``HTTP1Installer``). A
/// refused head is not passed on; a ``Refusal`` goes down the pipeline instead, which
/// ``MalformedRequestHandler`` answers as any unreadable request: JSON 400
/// `malformed_request` naming the problem, after the answers owed, then the connection closes.
/// Everything after it on the connection is dropped.
final class RequestFraming: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// What is wrong with a request head, for the 400's message.
    struct Refusal: Error {
        var message: String
    }

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        if case .head(let head) = unwrapInboundIn(data), let problem = Self.problem(head) {
            refused = true
            context.fireErrorCaught(Refusal(message: problem))
            return
        }
        context.fireChannelRead(data)
    }

    static func problem(_ head: HTTPRequestHead) -> String? {
        let hosts = head.headers["host"].count
        if head.version == .http1_1 && hosts != 1 {
            return hosts == 0 ? "the request has no Host header, which HTTP/1.1 requires" : "the request has \(hosts) Host headers; HTTP/1.1 allows one"
        }
        let codings = head.headers["transfer-encoding"]
        guard !codings.isEmpty else { return nil }
        if head.version == .http1_0 { return "the request is HTTP/1.0 with a Transfer-Encoding, which HTTP/1.0 does not have" }
        let list = codings.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard list == ["chunked"] else {
            return "the request's Transfer-Encoding is '\(codings.joined(separator: ", ").prefix(64))'; this server reads only 'chunked', or a Content-Length"
        }
        return nil
    }
}

/// Added by Hummingbird after the HTTP/1 codec (where its additional handlers go); puts
/// ``RequestFraming`` and ``HTTP10Close`` before the codec, which drops the version, then takes
/// itself out.
final class HTTP1Installer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? pipeline.addHandler(RequestFraming(), position: .before(codec))
            try? pipeline.addHandler(HTTP10Close(), position: .before(codec))
        }
        pipeline.removeHandler(context: context, promise: nil)
    }
}
