import FabCore
import Foundation

extension Deployment {
    /// How packages reach the apt repository.
    public enum Repository: Sendable, Equatable {
        /// A reprepro repository at `base` on the repository host; each pushed .deb is also kept in
        /// `archive/PACKAGE/`, so older versions can be re-published (``Deployment/rollbackRepository(to:)``).
        ///
        /// The archive lies outside `base`, which a web server serves: nil puts it beside `base`
        /// (`/srv/apt` keeps its archive in `/srv/apt-archive`). The repository host's login user must
        /// be able to create or write it. Earlier versions of fab kept it in `base/archive`, where
        /// anyone could list and download it over HTTP; fab moves nothing by itself and warns while
        /// that folder exists: move its contents (`mv /srv/apt/archive/* /srv/apt-archive/`), or give
        /// `archive: "/srv/apt/archive"` to keep the old place.
        case reprepro(base: String, codename: String, archive: String? = nil)
        /// An incoming directory that another tool processes.
        case incoming(directory: String)

        /// Where pushed packages are kept for rollbacks (nil for an incoming directory).
        public var archiveDirectory: String? {
            guard case let .reprepro(base, _, archive) = self else { return nil }
            return Self.archiveDirectory(base: base, archive: archive)
        }

        /// `archive`, or the directory beside `base` (`/srv/apt` -> `/srv/apt-archive`).
        static func archiveDirectory(base: String, archive: String?) -> String {
            archive ?? trimmed(base) + "-archive"
        }

        /// The archive's place before it moved out of the served tree, `base/archive`.
        var legacyArchiveDirectory: String? {
            guard case let .reprepro(base, _, _) = self else { return nil }
            return Self.trimmed(base) + "/archive"
        }

        static func trimmed(_ path: String) -> String {
            var path = path
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            return path
        }
    }
}
