"""The board layer: which computer the flight software runs on, and what it can sense.

Everything here reads from a ``root`` directory (``/`` on a board), so CI runs the same
code against fake sysfs/procfs trees built from real boards' layouts:

- :mod:`flightsw.board.detect` - the board (device tree model and compatible strings,
  ``/etc/nv_tegra_release``) and the profile chosen for it;
- :mod:`flightsw.board.sensors` - thermal zones, power rails, GPU load, CPU clocks,
  found by name, never by index;
- :mod:`flightsw.board.vcgencmd` - a Raspberry Pi's firmware readings through an
  injectable command runner.
"""

from flightsw.board.detect import Board, detect
from flightsw.board.sensors import BoardSensors, read_board

__all__ = ["Board", "BoardSensors", "detect", "read_board"]
