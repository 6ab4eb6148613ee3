"""Check every installed Python package (the pinned requirements and their dependencies).

Exit 1 when any package has a known vulnerability. When the vulnerability service cannot be
reached (a closed network answers every look-up with "not found"), say so plainly and exit 0:
nothing was checked, which is not the same as nothing found, and CI must not pretend either way.
Set AUDIT_REQUIRE_SERVICE=1 to make an unreachable service fail the run instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def main() -> int:
    completed = subprocess.run(
        [str(VENV_BIN / "pip-audit"), "--format", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        print("pip-audit 没有给出结果：", completed.stderr.strip()[-2000:], file=sys.stderr)
        return 1
    dependencies = report.get("dependencies", [])
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    unaudited = [dep for dep in dependencies if dep.get("skip_reason")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "暂无修复版本"
            print(f"漏洞：{dep['name']} {dep['version']} {vuln['id']}（修复版本：{fixed}）")
    audited = len(dependencies) - len(unaudited)
    print(
        f"pip-audit：已检查 {audited} 个包，有漏洞的 {len(vulnerable)} 个，"
        f"未能检查 {len(unaudited)} 个"
    )
    if vulnerable:
        return 1
    if unaudited and audited == 0:
        print(
            "注意：连不上漏洞数据库（例如网络只放行软件包仓库），本次实际上没有检查任何包。",
            file=sys.stderr,
        )
        return 1 if os.environ.get("AUDIT_REQUIRE_SERVICE") == "1" else 0
    if unaudited:
        names = ", ".join(dep["name"] for dep in unaudited)
        print(f"未能检查：{names}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
