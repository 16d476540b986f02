from .class_embedding_conditioner import (ClassEmbeddingConditioner,
                                          scene_class_id)
from .text_adapter import TextAdapter

__all__ = ['TextAdapter', 'ClassEmbeddingConditioner', 'scene_class_id']
