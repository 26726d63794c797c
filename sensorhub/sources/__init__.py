"""Where raw frames come from: live BLE (``ble``), recordings (``replay``) and the virtual radio
(``virtual``, a bleak backend over bumble's in-process Bluetooth stack)."""
