"""The lab: Debian VMs under qemu that stand in for trading servers (image, VMs, inventory)."""
