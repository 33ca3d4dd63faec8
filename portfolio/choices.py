"""Choices for the asset register."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AssetStatus(models.TextChoices):
    IN_USE = "in_use", _("In use")
    IDLE = "idle", _("Idle")
    LEASED_OUT = "leased_out", _("Leased out")
    UNDER_REPAIR = "under_repair", _("Under repair")
    PENDING_DISPOSAL = "pending_disposal", _("Pending disposal")
    DISPOSED = "disposed", _("Disposed")


class TagKind(models.TextChoices):
    BARCODE = "barcode", _("Barcode")
    QR = "qr", _("QR code")
    RFID_EPC = "rfid_epc", _("RFID EPC")
    NFC_UID = "nfc_uid", _("NFC UID")


class DocumentKind(models.TextChoices):
    PROPERTY_CERTIFICATE = "property_certificate", _("Real estate title certificate (不动产权证)")
    LAND_CERTIFICATE = "land_certificate", _("Land use certificate (土地证)")
    CONTRACT = "contract", _("Contract (合同)")
    INVOICE = "invoice", _("Invoice (发票)")
    PHOTO = "photo", _("Photo (照片)")
    DRAWING = "drawing", _("Drawing (图纸)")
    OTHER = "other", _("Other")
