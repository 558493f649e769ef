"""The industry and job-function taxonomy every service classifies against."""

from schemas.taxonomy.loader import (
    BUNDLED_TAXONOMY,
    load_taxonomy,
    load_taxonomy_async,
    load_taxonomy_file,
)
from schemas.taxonomy.model import (
    Industry,
    IndustryGroup,
    JobFunction,
    Sector,
    Taxonomy,
    TaxonomyError,
)

__all__ = [
    "BUNDLED_TAXONOMY",
    "Industry",
    "IndustryGroup",
    "JobFunction",
    "Sector",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
    "load_taxonomy_async",
    "load_taxonomy_file",
]
