#!/bin/sh
# Runs once as PID 1 while the image is built: install GRUB on the disk, shrink the
# initramfs to the modules this machine type needs, then power off.
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mount -o remount,rw /
echo "grub-pc grub-pc/install_devices multiselect /dev/vda" | debconf-set-selections
if grub-install --target=i386-pc /dev/vda && update-initramfs -u -k all && update-grub; then
  sync
  echo "COLOTUNE-FIRSTBOOT-OK" > /dev/ttyS0
else
  echo "COLOTUNE-FIRSTBOOT-FAILED" > /dev/ttyS0
fi
sync
mount -o remount,ro /
echo o > /proc/sysrq-trigger
sleep 60
