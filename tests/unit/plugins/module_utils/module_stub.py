"""AnsibleModule.atomic_move without a module run: what the modules hand module_utils.atomic_write."""

from ansible.module_utils.basic import AnsibleModule


def atomic_move():
    module = AnsibleModule.__new__(AnsibleModule)  # no argument parsing: only atomic_move is used
    module._selinux_enabled = False
    return module.atomic_move
