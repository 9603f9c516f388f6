#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HWLabelCore
import HWLabelService
import NIOCore
import NIOHTTP1
import NIOPosix

/// A port on 127.0.0.1 that refuses every connection while this value lives: bound, never
/// listening. Unlike a port that was bound and closed, no other test can take it meanwhile.
package final class RefusingPort: @unchecked Sendable {
    package let port: Int
    private let fd: Int32

    package init() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) == 0 && getsockname(s, $0, &len) == 0 }
        }
        guard bound else {
            let e = errno
            Glibc.close(s)
            throw IOError(errnoCode: e, reason: "bind")
        }
        fd = s
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { Glibc.close(fd) }

    package var url: String { "http://127.0.0.1:\(port)/v1/reports" }
}

/// A real HTTP controller on 127.0.0.1 for the reporter tests, with switchable faults.
package final class ReporterTestController: @unchecked Sendable {
    package enum Fault: Sendable, Equatable {
        case status(Int)
        case slow(TimeInterval)
        case garbageOK
        case reset
    }
    package struct Received: Sendable {
        package var idempotencyKey: String?
        package var authorization: String?
        package var report: Report
        package init(idempotencyKey: String? = nil, authorization: String? = nil, report: Report) {
            self.idempotencyKey = idempotencyKey
            self.authorization = authorization
            self.report = report
        }
    }

    private let lock = NSLock()
    private var faults: [Fault] = []
    private var _received: [Received] = []
    private var _attempts = 0
    private var _authTokens: [String?] = []
    private var channel: Channel?
    package private(set) var port: Int = 0

    package init() {}

    package var url: String { "http://127.0.0.1:\(port)/v1/reports" }
    package var received: [Received] { lock.withLock { _received } }
    package var attempts: Int { lock.withLock { _attempts } }
    /// The `X-Auth-Token` header (Placement's) of every request, in order; nil where it had none.
    package var authTokens: [String?] { lock.withLock { _authTokens } }

    /// The next requests fail with these faults, in order; then requests succeed.
    package func inject(_ f: [Fault]) { lock.withLock { faults = f } }

    package func start(port: Int = 0) async throws {
        let server = self
        let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.configureHTTPServerPipeline()
                    try ch.pipeline.syncOperations.addHandler(Handler(server: server))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        channel = ch
        self.port = ch.localAddress?.port ?? 0
    }

    package func stop() async {
        try? await channel?.close()
        channel = nil
    }

    fileprivate func recordAuthToken(_ t: String?) { lock.withLock { _authTokens.append(t) } }

    fileprivate func nextFault() -> Fault? {
        lock.withLock {
            _attempts += 1
            return faults.isEmpty ? nil : faults.removeFirst()
        }
    }
    fileprivate func record(_ r: Received) { lock.withLock { _received.append(r) } }

    private final class Handler: ChannelInboundHandler {
        package typealias InboundIn = HTTPServerRequestPart
        package typealias OutboundOut = HTTPServerResponsePart
        package let server: ReporterTestController
        package var head: HTTPRequestHead?
        package var body = ByteBuffer()
        package init(server: ReporterTestController) { self.server = server }

        package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body.clear()
            case .body(var b):
                body.writeBuffer(&b)
            case .end:
                guard let head else { return }
                server.recordAuthToken(head.headers.first(name: "X-Auth-Token"))
                let fault = server.nextFault()
                switch fault {
                case .reset:
                    // RST instead of FIN: linger 0 then close mid-request.
                    if let p = context.channel as? SocketOptionProvider {
                        _ = p.unsafeSetSocketOption(level: .socket, name: .so_linger, value: linger(l_onoff: 1, l_linger: 0))
                    }
                    context.close(promise: nil)
                case .status(let code):
                    respond(context, status: HTTPResponseStatus(statusCode: code), body: #"{"error":"injected"}"#)
                case .slow(let t):
                    let ctx = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(in: .milliseconds(Int64(t * 1000))) {
                        self.respond(ctx.value, status: .ok, body: "{}")
                    }
                case .garbageOK, nil:
                    let data = Data(body.readableBytesView)
                    if let report = try? JSONDecoder().decode(Report.self, from: data) {
                        server.record(
                            Received(
                                idempotencyKey: head.headers.first(name: "Idempotency-Key"),
                                authorization: head.headers.first(name: "Authorization"), report: report))
                        respond(context, status: .ok, body: fault == .garbageOK ? "\u{1}<html>not json" : #"{"accepted":true}"#)
                    } else {
                        respond(context, status: .badRequest, body: #"{"error":"bad report"}"#)
                    }
                }
                self.head = nil
            }
        }

        package func respond(_ context: ChannelHandlerContext, status: HTTPResponseStatus, body: String) {
            var h = HTTPHeaders()
            h.add(name: "Content-Length", value: String(body.utf8.count))
            h.add(name: "Content-Type", value: "application/json")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: h))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        package func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}
