"""DVC stage `report`: pictures and reports/report.md, see synthaug.report.report."""

import sys

from synthaug.report import report
from synthaug.stage import run_stage

if __name__ == "__main__":
    run_stage(report, sys.argv[1:])
