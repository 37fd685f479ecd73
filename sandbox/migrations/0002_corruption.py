import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='Corruption',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('system', models.CharField(choices=[('prestashop', 'PrestaShop'), ('channeladvisor', 'ChannelAdvisor'), ('tims', 'TIMS')], max_length=20)),
                ('order_id', models.BigIntegerField()),
                ('field', models.CharField(max_length=100)),
                ('value', models.JSONField(blank=True, help_text='Served as is in JSON; as text in XML.', null=True)),
                ('removed', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('sandbox', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='corruptions', to='sandbox.sandbox')),
            ],
            options={
                'ordering': ['sandbox', 'system', 'order_id', 'field'],
                'constraints': [models.UniqueConstraint(fields=('sandbox', 'system', 'order_id', 'field'), name='one_corruption_per_field')],
            },
        ),
    ]
