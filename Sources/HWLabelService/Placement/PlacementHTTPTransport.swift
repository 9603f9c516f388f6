import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Placement over HTTP (AsyncHTTPClient). Sends `X-Auth-Token` (never logged) and
/// `OpenStack-API-Version: placement <microversion>` on every request.
public struct PlacementHTTPTransport: PlacementTransport {
    public var baseURL: String
    public var microversion: String
    public var timeout: TimeAmount
    public let counter: PlacementRequestCounter
    private let token: Token
    private let client: HTTPClient

    /// A fixed token (`hwlabel placement sync`), or a token source read before every request
    /// (the agent: a rewritten token file is used from the next request on).
    enum Token: Sendable {
        case fixed(String)
        case source(TokenSource)
    }

    public init(
        baseURL: String, token: String, microversion: String = "1.39",
        timeout: TimeAmount = .seconds(30), client: HTTPClient = .shared,
        counter: PlacementRequestCounter = PlacementRequestCounter()
    ) {
        self.init(baseURL: baseURL, token: .fixed(token), microversion: microversion, timeout: timeout, client: client, counter: counter)
    }

    /// Reads `tokenSource` before every request.
    public init(
        baseURL: String, tokenSource: TokenSource, microversion: String = "1.39",
        timeout: TimeAmount = .seconds(30), client: HTTPClient = .shared,
        counter: PlacementRequestCounter = PlacementRequestCounter()
    ) {
        self.init(
            baseURL: baseURL, token: .source(tokenSource), microversion: microversion, timeout: timeout, client: client, counter: counter)
    }

    init(
        baseURL: String, token: Token, microversion: String, timeout: TimeAmount, client: HTTPClient,
        counter: PlacementRequestCounter
    ) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.token = token
        self.microversion = microversion
        self.timeout = timeout
        self.client = client
        self.counter = counter
    }

    /// Reads the token from a file, as the agent does (`TokenSource`: one token, surrounding
    /// whitespace ignored, a line break or control character inside refused).
    public static func token(fromFile path: String) throws -> String {
        do { return try TokenSource.file(path).read().value } catch {
            throw PlacementError.tokenFile(path: path, error.reason)
        }
    }

    /// The token for the next request.
    func currentToken() throws(PlacementError) -> String {
        switch token {
        case .fixed(let t): return t
        case .source(let s):
            do { return try s.read().value } catch {
                throw PlacementError.tokenFile(path: error.path ?? "-", error.reason)
            }
        }
    }

    public func send(method: String, path: String, body: Data?) async throws -> PlacementResponse {
        let token = try currentToken()
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "X-Auth-Token", value: token)
        request.headers.add(name: "OpenStack-API-Version", value: "placement \(microversion)")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        counter.record(method: method)
        do {
            let response = try await client.execute(request, timeout: timeout)
            var buffer = try await response.body.collect(upTo: 64 << 20)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            return PlacementResponse(status: Int(response.status.code), body: Data(bytes))
        } catch let e as PlacementError {
            throw e
        } catch {
            // The client's errors may print request headers (an invalid header value is
            // printed whole): the token never leaves in an error.
            throw PlacementError.transport(method: method, path: path, Secret.redact("\(error)", known: [Secret(token)]))
        }
    }
}
