import Testing

/// Suites that share the one real Placement server (`PlacementServer.shared`) nest here, so they
/// run one after another even when the rest of the suite runs in parallel: the server's access log
/// counts every write, and some tests compare their own writes with it.
@Suite(.serialized) enum RealPlacementServer {}
