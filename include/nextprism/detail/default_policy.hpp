#ifndef NEXTPRISM_DETAIL_DEFAULT_POLICY_HPP
#define NEXTPRISM_DETAIL_DEFAULT_POLICY_HPP

#include <string_view>

namespace nextprism::detail {

// The compiled-in whitelist, in the policy file schema so that one loader
// serves both. Options follow the real CLIs' help output:
//   occ files:scan      (Nextcloud server, core/Command/Files/Scan)
//   occ memories:index  (Memories app)
//   occ status          (Nextcloud server)
//   photoprism index / import / status (PhotoPrism's urfave/cli commands)
// Only output-related occ globals are allowed; php flags, other occ globals
// and every PhotoPrism global flag (--*-bin, --config-path, --database-dsn,
// --log-filename, ...) are absent, hence refused.
inline constexpr std::string_view default_policy_json = R"json({
  "services": {
    "nextcloud": {
      "exec_user": "www-data",
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
            { "name": "--folder", "aliases": ["-f"], "value": "user_folder" },
            { "name": "--group", "aliases": ["-g"], "value": "group_id" },
            { "name": "--force" },
            { "name": "--retry" },
            { "name": "--skip-cleanup" }
          ],
          "forbidden_options": [
            { "name": "--clear", "reason": "--clear wipes the whole index and skips its confirmation when no terminal is attached" }
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
      "commands": [
        {
          "argv": ["photoprism", "index"],
          "single_flight": true,
          "options": [
            { "name": "--force", "aliases": ["-f"] },
            { "name": "--cleanup", "aliases": ["-c"] }
          ],
          "arguments": { "value": "relative_path", "max": 1 }
        },
        {
          "argv": ["photoprism", "import"],
          "single_flight": true,
          "idempotent": false,
          "options": [
            { "name": "--move", "aliases": ["-m"] },
            { "name": "--dest", "aliases": ["-d"], "value": "relative_path" }
          ],
          "arguments": { "value": "relative_path", "max": 1 }
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
