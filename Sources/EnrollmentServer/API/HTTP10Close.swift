import NIOCore
import NIOHTTP1

/// Closes an HTTP/1.0 connection after its answer unless the request asked to keep it alive
/// (RFC 9112 §9.3), as such a client (ApacheBench without `-k`, simple probes) waits for the
/// close to know the answer is complete; and drops an HTTP/1.0 request's `Expect`, so that
/// no `100 Continue` is sent to a client that does not know interim answers.
///
/// The codec that turns HTTP/1 into version-independent HTTP types drops the version, and the
/// server keeps a connection open unless the request says `Connection: close`. So this handler
/// sits before that codec and adds `Connection: close` to an HTTP/1.0 request that is not
/// keep-alive. It is put there by ``HTTP1Installer``.
final class HTTP10Close: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var head) = unwrapInboundIn(data), head.version == .http1_0 {
            if !head.isKeepAlive { head.headers.replaceOrAdd(name: "connection", value: "close") }
            // RFC 9110 §10.1.1: a server ignores an HTTP/1.0 request's 100-continue, and §15.2:
            // sends such a client no 1xx answer, which it would take for the final one.
            head.headers.remove(name: "expect")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }
}
