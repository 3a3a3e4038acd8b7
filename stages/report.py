"""DVC stage `report`: `python stages/report.py`."""

from synthaug.core.launch import main

if __name__ == "__main__":
    main()  # runs synthaug.pipeline.report.run
