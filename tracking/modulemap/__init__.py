"""Graph building from a learned connection map: module maps (GNN4ITk) and layer-pair maps.

- :class:`ModuleMap`: groups (modules or layers) and their connections with windows on the cut
  variables (:data:`tracking.ops.CUT_VARIABLES`); ``.npz`` load/save; ``build(event)`` -> edges.
- :func:`learn_module_map`: learn a map from truth segments of training events, one event at a time.
- :func:`score_map`: a map's segment efficiency, connectivity loss and edges per event on events with truth
  (:func:`connectivity_advice`: the hint when connectivity is most of the loss).
- :func:`group_keys`: the packed (volume, layer, module) key of each hit at a granularity.
- :class:`ModuleIdResolver`: the file's module ids or the built-in detector's at each hit's position.
"""

from .learn import MapLearner, learn_module_map
from .map import GRANULARITIES, MAP_VERSION, ModuleMap, group_keys
from .module_ids import ModuleIdMode, ModuleIdResolver
from .score import connectivity_advice, score_map

__all__ = [
    "GRANULARITIES",
    "MAP_VERSION",
    "MapLearner",
    "ModuleIdMode",
    "ModuleIdResolver",
    "ModuleMap",
    "connectivity_advice",
    "group_keys",
    "learn_module_map",
    "score_map",
]
