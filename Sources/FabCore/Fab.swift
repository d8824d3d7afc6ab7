public final class Fab: @unchecked Sendable {}
