"""Graph building from a learned connection map: module maps (GNN4ITk) and layer-pair maps.

- :class:`ModuleMap`: groups (modules or layers) and their connections with windows on the cut
  variables (:data:`tracking.ops.CUT_VARIABLES`); ``.npz`` load/save; ``build(event)`` -> edges.
- :func:`learn_module_map`: learn a map from truth segments of training events, one event at a time.
- :func:`group_keys`: the packed (volume, layer, module) key of each hit at a granularity.
"""

from .learn import MapLearner, learn_module_map
from .map import GRANULARITIES, MAP_VERSION, ModuleMap, group_keys

__all__ = ["GRANULARITIES", "MAP_VERSION", "MapLearner", "ModuleMap", "group_keys", "learn_module_map"]
