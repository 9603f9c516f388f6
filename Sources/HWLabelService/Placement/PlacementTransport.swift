import Foundation

/// Sends one request to Placement. One small seam so tests can count or disturb requests.
public protocol PlacementTransport: Sendable {
    func send(method: String, path: String, body: Data?) async throws -> PlacementResponse
}
