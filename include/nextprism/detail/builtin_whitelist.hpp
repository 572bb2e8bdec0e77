#ifndef NEXTPRISM_DETAIL_BUILTIN_WHITELIST_HPP
#define NEXTPRISM_DETAIL_BUILTIN_WHITELIST_HPP

#include <string_view>

namespace nextprism::detail {

// The compiled-in whitelist, in the whitelist file schema so that one loader
// serves both. Options follow the real CLIs' sources (docs/whitelist.md
// lists the files and releases checked):
//   occ files:scan      (nextcloud/server apps/files/lib/Command/Scan.php)
//   occ memories:index  (pulsejet/memories lib/Command/Index.php, >= 7.6.1:
//                        --path, -f is --force)
//   occ status          (nextcloud/server core/Command/Status.php)
//   photoprism index / import / status (internal/commands/*.go)
// PhotoPrism's import is `mv`: it always moves, and resolves its source
// against the process's working directory, so the source is built here as
// an absolute path under the import folder. PhotoPrism exits 0 on almost
// every error and occ's scans exit 0 for unknown users: failure_lines
// says how their failures show.
// The exec user comes from the target (exec_user.hpp): Nextcloud's occ must
// run as the owner of config/config.php, which is the container's user when
// it was started as one (a stack's `user:`), www-data in the official image
// started as root; PhotoPrism's entrypoint (scripts/dist/entrypoint.sh)
// runs as the container's user when not root, else as PHOTOPRISM_UID (or
// PUID; UID is bash's own variable there, never the environment's) and
// PHOTOPRISM_GID (or GID, PGID; 1000 without one), else as root.
// Only output-related occ globals are allowed; php flags, other occ globals
// and every PhotoPrism global flag (--*-bin, --config-path, --database-dsn,
// --log-filename, ...) are absent, hence refused.
inline constexpr std::string_view builtin_json = R"json({
  "services": {
    "nextcloud": {
      "exec_user_from": { "container_user": true, "otherwise": "www-data" },
      "working_dir": "/var/www/html",
      "failure_lines": [
        { "stream": "stdout", "starts_with": "Unknown user " },
        { "stream": "stdout", "starts_with": "User ", "ends_with": " not found" },
        { "starts_with": "Please specify the user id to scan" }
      ],
      "common_options": [
        { "name": "--verbose", "aliases": ["-v"] },
        { "name": "-vv" },
        { "name": "-vvv" },
        { "name": "--quiet", "aliases": ["-q"] },
        { "name": "--no-interaction", "aliases": ["-n"] },
        { "name": "--no-ansi" },
        { "name": "--no-warnings" }
      ],
      "commands": [
        {
          "argv": ["php", "occ", "files:scan"],
          "single_flight": true,
          "options": [
            { "name": "--path", "aliases": ["-p"], "value": "user_files_path" },
            { "name": "--all" },
            { "name": "--unscanned" },
            { "name": "--shallow" },
            { "name": "--home-only" },
            { "name": "--generate-metadata" },
            { "name": "--output", "value": "choice", "choices": ["plain", "json", "json_pretty"] }
          ],
          "arguments": { "value": "user_id", "max": 32 }
        },
        {
          "argv": ["php", "occ", "memories:index"],
          "single_flight": true,
          "options": [
            { "name": "--user", "aliases": ["-u"], "value": "user_id" },
            { "name": "--path", "value": "user_folder" },
            { "name": "--group", "aliases": ["-g"], "value": "group_id" },
            { "name": "--force", "aliases": ["-f"] },
            { "name": "--retry" },
            { "name": "--skip-cleanup" }
          ],
          "forbidden_options": [
            { "name": "--clear", "reason": "--clear wipes every user's index, and -n, -q or a missing terminal skips its confirmation" },
            { "name": "--folder", "reason": "Memories 7.6.1 renamed --folder to --path (older releases: use whitelists/memories-before-7.6.1.json)" }
          ]
        },
        {
          "argv": ["php", "occ", "status"],
          "options": [
            { "name": "--output", "value": "choice", "choices": ["plain", "json", "json_pretty"] },
            { "name": "--exit-code", "aliases": ["-e"] }
          ]
        }
      ]
    },
    "photoprism": {
      "exec_user_from": {
        "container_user": true,
        "uid_env": ["PHOTOPRISM_UID", "PUID"],
        "gid_env": ["PHOTOPRISM_GID", "GID", "PGID"],
        "gid_otherwise": "1000"
      },
      "working_dir": "/photoprism",
      "failure_lines": [
        { "stream": "stderr", "contains": " level=error " },
        { "stream": "stderr", "contains": " level=fatal " },
        { "stream": "stderr", "contains": " level=panic " },
        { "stream": "stderr", "starts_with": "ERRO[" },
        { "stream": "stderr", "starts_with": "FATA[" },
        { "stream": "stderr", "starts_with": "PANI[" },
        { "starts_with": "Incorrect Usage" }
      ],
      "commands": [
        {
          "argv": ["photoprism", "index"],
          "single_flight": true,
          "options": [
            { "name": "--force", "aliases": ["-f"] },
            { "name": "--cleanup", "aliases": ["-c"], "idempotent": false }
          ],
          "arguments": { "value": "relative_path", "max": 1 }
        },
        {
          "argv": ["photoprism", "import"],
          "single_flight": true,
          "idempotent": false,
          "options": [
            { "name": "--dest", "aliases": ["-d"], "value": "relative_path" }
          ],
          "forbidden_options": [
            { "name": "--move", "aliases": ["-m"], "reason": "photoprism import always moves; it has no --move flag" }
          ],
          "arguments": { "value": "relative_path", "max": 1, "base": "/photoprism/import",
                         "reserved": ["originals", "storage", "import", "photoprism"] }
        },
        {
          "argv": ["photoprism", "status"]
        }
      ]
    }
  }
})json";

} // namespace nextprism::detail

#endif
