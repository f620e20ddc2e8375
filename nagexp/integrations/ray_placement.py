"""A placement group by its id (tested on Ray 2.60): ids, not handles, travel in trial results
and worker configs, and Ray has no public way back from an id to a handle."""

from __future__ import annotations

from typing import Any

from nagexp.integrations.versions import Tested

__all__ = ["TESTED", "placement_group_of"]

TESTED = Tested("ray", "2.60", "2.61", "ray._raylet.PlacementGroupID (a placement group from its hex id)")
TESTED.check()


def placement_group_of(group_hex: str) -> Any:
    """The placement group whose id (hex) a process reported."""
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup

    return PlacementGroup(PlacementGroupID(bytes.fromhex(group_hex)))
