"""The simulated spacecraft ("plant"): orbit, sun and eclipse, contacts, power, thermal.

>>> from hil.plant import Plant, load_profile
>>> plant = Plant(load_profile("cubesat-jetson"))
"""

from hil.plant.errors import PlantError, ProfileError
from hil.plant.plant import Plant
from hil.plant.profile import DEFAULT_PROFILE, Profile, list_profiles, load_profile

__all__ = [
    "DEFAULT_PROFILE",
    "Plant",
    "PlantError",
    "Profile",
    "ProfileError",
    "list_profiles",
    "load_profile",
]
