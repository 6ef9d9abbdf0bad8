"""bcpages: Business Central's page background tasks for Django.

Public API for page authors (internals are imported by path):

    from bcpages.pages import CardPage, RoleCenterPage, action
    from bcpages.fields import Field
"""
