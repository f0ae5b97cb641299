import NIOCore
import NIOHTTP1

/// Closes an HTTP/1.0 connection after its answer unless the request asked to keep it alive
/// (RFC 9112 §9.3), as such a client (ApacheBench without `-k`, simple probes) waits for the
/// close to know the answer is complete.
///
/// The codec that turns HTTP/1 into version-independent HTTP types drops the version, and the
/// server keeps a connection open unless the request says `Connection: close`. So this handler
/// sits before that codec and adds `Connection: close` to an HTTP/1.0 request that is not
/// keep-alive. It is put there by ``HTTP1Installer``.
final class HTTP10Close: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var head) = unwrapInboundIn(data), head.version == .http1_0, !head.isKeepAlive {
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }
}
