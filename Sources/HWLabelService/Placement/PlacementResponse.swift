import Foundation

/// A Placement API response: status, body, and the error code Placement puts in
/// `{"errors":[{"code":"placement.concurrent_update",…}]}`.
public struct PlacementResponse: Sendable {
    public var status: Int
    public var body: Data
    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
    public var errorCode: String? {
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let errors = o["errors"] as? [[String: Any]], let first = errors.first
        else { return nil }
        return first["code"] as? String
    }
    public var errorDetail: String {
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let errors = o["errors"] as? [[String: Any]], let first = errors.first
        else {
            return String(decoding: body.prefix(300), as: UTF8.self)
        }
        return (first["detail"] as? String ?? first["title"] as? String ?? "")
            .replacingOccurrences(of: "\n", with: " ")
    }
    func json() throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw PlacementError.badResponse("expected a JSON object")
        }
        return o
    }
}
