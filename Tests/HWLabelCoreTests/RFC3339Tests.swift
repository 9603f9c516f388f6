import Foundation
import HWLabelCore
import Testing

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test(
        arguments: [
            (0.0, "1970-01-01T00:00:00Z"),
            (1_750_000_000.999, "2025-06-15T15:06:40Z"),
            (-0.5, "1969-12-31T23:59:59Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ] as [(Double, String)])
    func formatsUTCToTheSecond(seconds: Double, expected: String) {
        #expect(rfc3339(Date(timeIntervalSince1970: seconds)) == expected)
    }
}
