from api.zitadel.pb.zitadel import object_pb2 as _object_pb2
from api.zitadel.pb.zitadel import settings_pb2 as _settings_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HealthzRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthzResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEmailProviderRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEmailProviderResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _settings_pb2.EmailProvider
    def __init__(self, config: _Optional[_Union[_settings_pb2.EmailProvider, _Mapping]] = ...) -> None: ...

class GetEmailProviderByIdRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetEmailProviderByIdResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: _settings_pb2.EmailProvider
    def __init__(self, config: _Optional[_Union[_settings_pb2.EmailProvider, _Mapping]] = ...) -> None: ...

class ListEmailProvidersRequest(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: _object_pb2.ListQuery
    def __init__(self, query: _Optional[_Union[_object_pb2.ListQuery, _Mapping]] = ...) -> None: ...

class ListEmailProvidersResponse(_message.Message):
    __slots__ = ("details", "result")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ListDetails
    result: _containers.RepeatedCompositeFieldContainer[_settings_pb2.EmailProvider]
    def __init__(self, details: _Optional[_Union[_object_pb2.ListDetails, _Mapping]] = ..., result: _Optional[_Iterable[_Union[_settings_pb2.EmailProvider, _Mapping]]] = ...) -> None: ...

class AddEmailProviderSMTPRequest(_message.Message):
    __slots__ = ("sender_address", "sender_name", "tls", "host", "user", "password", "reply_to_address", "description", "none", "plain", "xoauth2")
    SENDER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    PLAIN_FIELD_NUMBER: _ClassVar[int]
    XOAUTH2_FIELD_NUMBER: _ClassVar[int]
    sender_address: str
    sender_name: str
    tls: bool
    host: str
    user: str
    password: str
    reply_to_address: str
    description: str
    none: SMTPNoAuth
    plain: SMTPPlainAuth
    xoauth2: SMTPXOAuth2Auth
    def __init__(self, sender_address: _Optional[str] = ..., sender_name: _Optional[str] = ..., tls: _Optional[bool] = ..., host: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ..., reply_to_address: _Optional[str] = ..., description: _Optional[str] = ..., none: _Optional[_Union[SMTPNoAuth, _Mapping]] = ..., plain: _Optional[_Union[SMTPPlainAuth, _Mapping]] = ..., xoauth2: _Optional[_Union[SMTPXOAuth2Auth, _Mapping]] = ...) -> None: ...

class AddEmailProviderSMTPResponse(_message.Message):
    __slots__ = ("details", "id")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ObjectDetails
    id: str
    def __init__(self, details: _Optional[_Union[_object_pb2.ObjectDetails, _Mapping]] = ..., id: _Optional[str] = ...) -> None: ...

class UpdateEmailProviderSMTPRequest(_message.Message):
    __slots__ = ("sender_address", "sender_name", "tls", "host", "user", "reply_to_address", "password", "description", "id", "none", "plain", "xoauth2")
    SENDER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    PLAIN_FIELD_NUMBER: _ClassVar[int]
    XOAUTH2_FIELD_NUMBER: _ClassVar[int]
    sender_address: str
    sender_name: str
    tls: bool
    host: str
    user: str
    reply_to_address: str
    password: str
    description: str
    id: str
    none: SMTPNoAuth
    plain: SMTPPlainAuth
    xoauth2: SMTPXOAuth2Auth
    def __init__(self, sender_address: _Optional[str] = ..., sender_name: _Optional[str] = ..., tls: _Optional[bool] = ..., host: _Optional[str] = ..., user: _Optional[str] = ..., reply_to_address: _Optional[str] = ..., password: _Optional[str] = ..., description: _Optional[str] = ..., id: _Optional[str] = ..., none: _Optional[_Union[SMTPNoAuth, _Mapping]] = ..., plain: _Optional[_Union[SMTPPlainAuth, _Mapping]] = ..., xoauth2: _Optional[_Union[SMTPXOAuth2Auth, _Mapping]] = ...) -> None: ...

class UpdateEmailProviderSMTPResponse(_message.Message):
    __slots__ = ("details",)
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ObjectDetails
    def __init__(self, details: _Optional[_Union[_object_pb2.ObjectDetails, _Mapping]] = ...) -> None: ...

class UpdateEmailProviderSMTPPasswordRequest(_message.Message):
    __slots__ = ("password", "id")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    password: str
    id: str
    def __init__(self, password: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class UpdateEmailProviderSMTPPasswordResponse(_message.Message):
    __slots__ = ("details",)
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ObjectDetails
    def __init__(self, details: _Optional[_Union[_object_pb2.ObjectDetails, _Mapping]] = ...) -> None: ...

class ActivateEmailProviderRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ActivateEmailProviderResponse(_message.Message):
    __slots__ = ("details",)
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ObjectDetails
    def __init__(self, details: _Optional[_Union[_object_pb2.ObjectDetails, _Mapping]] = ...) -> None: ...

class DeactivateEmailProviderRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeactivateEmailProviderResponse(_message.Message):
    __slots__ = ("details",)
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ObjectDetails
    def __init__(self, details: _Optional[_Union[_object_pb2.ObjectDetails, _Mapping]] = ...) -> None: ...

class RemoveEmailProviderRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RemoveEmailProviderResponse(_message.Message):
    __slots__ = ("details",)
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    details: _object_pb2.ObjectDetails
    def __init__(self, details: _Optional[_Union[_object_pb2.ObjectDetails, _Mapping]] = ...) -> None: ...

class TestEmailProviderSMTPByIdRequest(_message.Message):
    __slots__ = ("id", "receiver_address")
    ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    receiver_address: str
    def __init__(self, id: _Optional[str] = ..., receiver_address: _Optional[str] = ...) -> None: ...

class TestEmailProviderSMTPByIdResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TestEmailProviderSMTPRequest(_message.Message):
    __slots__ = ("sender_address", "sender_name", "tls", "host", "user", "password", "receiver_address", "id", "none", "plain", "xoauth2")
    SENDER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    PLAIN_FIELD_NUMBER: _ClassVar[int]
    XOAUTH2_FIELD_NUMBER: _ClassVar[int]
    sender_address: str
    sender_name: str
    tls: bool
    host: str
    user: str
    password: str
    receiver_address: str
    id: str
    none: SMTPNoAuth
    plain: SMTPPlainAuth
    xoauth2: SMTPXOAuth2Auth
    def __init__(self, sender_address: _Optional[str] = ..., sender_name: _Optional[str] = ..., tls: _Optional[bool] = ..., host: _Optional[str] = ..., user: _Optional[str] = ..., password: _Optional[str] = ..., receiver_address: _Optional[str] = ..., id: _Optional[str] = ..., none: _Optional[_Union[SMTPNoAuth, _Mapping]] = ..., plain: _Optional[_Union[SMTPPlainAuth, _Mapping]] = ..., xoauth2: _Optional[_Union[SMTPXOAuth2Auth, _Mapping]] = ...) -> None: ...

class TestEmailProviderSMTPResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SMTPNoAuth(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SMTPPlainAuth(_message.Message):
    __slots__ = ("password",)
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    password: str
    def __init__(self, password: _Optional[str] = ...) -> None: ...

class SMTPXOAuth2Auth(_message.Message):
    __slots__ = ("token_endpoint", "scopes", "client_credentials")
    class ClientCredentials(_message.Message):
        __slots__ = ("client_id", "client_secret")
        CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
        CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
        client_id: str
        client_secret: str
        def __init__(self, client_id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...
    TOKEN_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    token_endpoint: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    client_credentials: SMTPXOAuth2Auth.ClientCredentials
    def __init__(self, token_endpoint: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., client_credentials: _Optional[_Union[SMTPXOAuth2Auth.ClientCredentials, _Mapping]] = ...) -> None: ...
