"""Installed packages checked against their wheel `RECORD`s (`rlaudit env-check`).

A training job imports a few hundred distributions; any of them edited in place after installation
(a poisoned dependency, an agent or a script that patched site-packages) runs with the job's
permissions. Every wheel install writes, in its `*.dist-info/RECORD`, each file it installed with a
`sha256=<urlsafe base64, no padding>` hash and its size. This module re-hashes every installed file
against that record and lists what does not match:

| kind | what it is | why it matters |
|---|---|---|
| changed | a file that RECORD lists with a hash, now with other content, another size, or not a regular file (a symlink, a folder) | code edited after installation |
| missing | a file RECORD lists with a hash that is gone | a check or a module removed |
| added | a file inside a distribution's own folder (`torch/`, `trl/`, its `*.dist-info/`) that no RECORD names | new code where an import will find it |
| unowned | an entry of site-packages that belongs to no distribution (a stray `.pth`, module or folder) | `.pth` files run at every interpreter start |

What is expected and not listed: bytecode in a `__pycache__/` folder whose source file is beside it
(pip compiles it after installing and records it without a hash; Python never imports a cached file
without its source); the RECORD file itself and other entries that carry no hash (existence only).
Editable installs (`pip install -e`) are checked as installed (their `.pth` and finder module); their
source tree is the user's own and has no hashes to check, which the result says.

What it cannot see: whoever can write to site-packages can rewrite a RECORD too, so a clean result
means "nothing changed behind pip's back", not "nothing was ever tampered with". Pair it with a
hash-checked install from a lock file (`requirements/*.lock`, `pip install --require-hashes`).
Symlinks are never followed: a listed file that became a symlink is `changed`, and a RECORD entry that
points outside the environment's prefix is not read (it is counted in `outside`).
"""

from rlaudit.supply.judge import EnvCheckConfig, check_environment
from rlaudit.supply.scan import KINDS, EnvReport, Mismatch, default_site_dirs, scan, site_dirs_of

__all__ = [
    "KINDS",
    "EnvCheckConfig",
    "EnvReport",
    "Mismatch",
    "check_environment",
    "default_site_dirs",
    "scan",
    "site_dirs_of",
]
