"""Registration of every vpd module into the ``vpd`` scope."""
import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every vpd module so that it registers, like mmseg's helper.

    Args:
        init_default_scope (bool): Whether to make ``vpd`` the current
            default scope. Defaults to True.
    """
    import mmseg.datasets  # noqa: F401
    import mmseg.engine  # noqa: F401
    import mmseg.evaluation  # noqa: F401
    import mmseg.models  # noqa: F401
    import mmseg.structures  # noqa: F401
    import mmseg.visualization  # noqa: F401
    import vpd.datasets  # noqa: F401
    import vpd.engine  # noqa: F401
    import vpd.evaluation  # noqa: F401
    import vpd.models  # noqa: F401
    import vpd.visualization  # noqa: F401

    if init_default_scope:
        never_created = (DefaultScope.get_current_instance() is None
                         or not DefaultScope.check_instance_created('vpd'))
        if never_created:
            DefaultScope.get_instance('vpd', scope_name='vpd')
            return
        current_scope = DefaultScope.get_current_instance()
        if current_scope.scope_name != 'vpd':
            warnings.warn('The current default scope '
                          f'"{current_scope.scope_name}" is not "vpd", '
                          '`register_all_modules` will force the current '
                          'default scope to be "vpd".')
            new_instance_name = f'vpd-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_instance_name, scope_name='vpd')
